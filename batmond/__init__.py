"""batmond: a battery monitor daemon for BMS over Bluetooth LE and RS485, publishing to MQTT."""

__version__ = "0.1.0"
