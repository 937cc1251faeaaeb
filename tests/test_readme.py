"""The README's code runs as written (with fewer epochs and a slice of the data, to stay quick)."""
import os
import re

import pytest

import fastnn as fnn

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "README.md")


def test_readme_snippets_run(tmp_path, monkeypatch, capsys):
    if not os.path.exists(README):
        pytest.skip("README.md not beside the tests (installed tests)")
    try:
        fnn.datasets.fashion_mnist()
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    text = open(README, encoding="utf-8").read()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    assert "fnn.Sequential" in code and "Conv2d" in code
    code = re.sub(r"epochs=\d+", "epochs=1", code).replace("CosineAnnealing(15)", "CosineAnnealing(1)")
    load = "(X_train, y_train), (X_test, y_test) = fnn.datasets.fashion_mnist()"
    assert load in code
    code = code.replace(load, load + "; X_train, y_train = X_train[:2000], y_train[:2000]", 1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "accuracy" in out and "Trainable parameters" in out
