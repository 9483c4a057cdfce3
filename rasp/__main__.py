from .commands import entry

if __name__ == "__main__":  # not when a spawned process (a Dask worker) imports it
    entry()
