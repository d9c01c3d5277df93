"""Every message the fleet tests receive is scanned for planted patient identifiers (see mqtt_helpers)."""

from mqtt_helpers import phi_scan_fixture

phi_scan = phi_scan_fixture()
