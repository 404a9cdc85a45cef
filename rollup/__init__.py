"""rollup: apply Windows server update rollups across a fleet, safely, over WinRM."""

__version__ = "0.1.0"
