"""Data files of caplin.crypto: the KZG trusted setup (a package so wheels include it)."""
