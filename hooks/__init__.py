"""Hook shims that ``gitfleet init`` installs (shipped as the package ``gitfleet.hooks``)."""
