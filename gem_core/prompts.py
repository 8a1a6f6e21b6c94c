"""Questions and prompt text shared by the app, the backends, training and evaluation."""

# The question GEM was trained and evaluated on for grounded interpretation (ECG-Grounding).
DEFAULT_QUESTION = (
    "Interpret the provided ECG image, identify key features and abnormalities in each lead, and "
    "generate a clinical diagnosis that is supported by the observed evidence."
)
