# CMake generated Testfile for 
# Source directory: /work/main/extractors
# Build directory: /work/main/build/extractors
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
