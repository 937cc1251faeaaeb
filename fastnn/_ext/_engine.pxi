# Training-plan bridge.
