"""Programs of other RASP implementations, converted into this one's graph: `tracr`
(rasp.compat.tracr.from_tracr). Nothing here imports the other implementation: its objects
are read by their classes' names and attributes."""
