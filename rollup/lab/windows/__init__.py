"""The simulated Windows host the lab's PowerShell runs against: files, registry, programs, COM."""
