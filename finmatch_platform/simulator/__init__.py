"""What stands in for the bank's systems and its vendors: nothing here is deployed at a bank.

``generation`` writes the bank's source data to the landing zone; ``api`` serves the vendors'
HTTP APIs (FPR and PayScore) from it. The simulator shares with the platform only the landing-zone
contract (:mod:`finmatch_platform.landing_zone`) and the settings both read from one environment.
"""
