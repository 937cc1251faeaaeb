# Activation and loss bridge.
