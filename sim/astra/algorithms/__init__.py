"""ASTRA-sim's native collective algorithms as ASTRA-sim runs them (not ``sim/comm``'s)."""
