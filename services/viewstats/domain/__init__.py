"""Pure rules of view statistics: beacons, province lookup, counters, unique visitors, learning hours."""
