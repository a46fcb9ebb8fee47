"""FPR API fixtures: a live server on a free loopback port."""
