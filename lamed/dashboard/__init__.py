"""The experimenter's dashboard: views, statistics (stdlib only), charts,
login and the Alephbet snippet."""
