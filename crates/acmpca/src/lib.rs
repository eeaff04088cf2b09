//! AWS Private CA (ACM PCA) for berth.
