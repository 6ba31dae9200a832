"""Models trained on anonymized data: feature encoding, scikit-learn and ε-DP (diffprivlib) classifiers,
safe persistence (skops), metrics, model cards."""
