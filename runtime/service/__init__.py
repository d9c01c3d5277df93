"""The long-running appliance service: intake, assembler, analysis workers, health, retention."""
