"""The ``fastnn`` command.

    fastnn fashion-mnist [options]   train an MLP on Fashion-MNIST and report test accuracy
    fastnn config                    print the build and run-time configuration
"""
import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = ("fashion-mnist", "config")
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print(__doc__.strip(), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    if argv[0] == "config":
        import fastnn

        fastnn.show_config()
        return 0
    from .examples import fashion_mnist

    fashion_mnist.main(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
