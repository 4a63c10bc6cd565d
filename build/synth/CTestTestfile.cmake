# CMake generated Testfile for 
# Source directory: /work/main/synth
# Build directory: /work/main/build/synth
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
