"""Analytics over stored events: rollups, metrics, dashboard and report."""
