"""Technology facts (layers, rules, device names, model libraries). Only this package holds PDK numbers.

sky130 is the one PDK today; another would sit beside it with the same module names.
"""
