"""Route modules of the Beacon API, one per namespace; each exports `router`."""
