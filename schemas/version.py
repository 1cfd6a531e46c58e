"""The installed demem version, stamped into shards, reports and manifests."""
from importlib import metadata

try:
    DEMEM_VERSION = metadata.version("demem")
except metadata.PackageNotFoundError:  # running from a tree that was never installed
    DEMEM_VERSION = "0+unknown"
