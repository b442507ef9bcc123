"""Models of data protection: the anonymisation job's runs and statistical rows (retention),
the right-of-access archives."""
