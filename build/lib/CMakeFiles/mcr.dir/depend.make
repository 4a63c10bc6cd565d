# Empty dependencies file for mcr.
# This may be replaced when dependencies are built.
