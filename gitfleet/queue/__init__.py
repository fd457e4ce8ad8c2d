"""The queue: one daemon per repository granting FIFO leases per target ref, and its client."""
