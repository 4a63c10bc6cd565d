# Install-time part of cmake/install.cmake (runs inside cmake --install and cpack,
# where CMAKE_INSTALL_PREFIX is the install prefix; file(INSTALL) adds DESTDIR):
# the systemd units with ExecStart= paths for that prefix, and the logrotate file
# under /etc (logrotate reads only /etc/logrotate.d) for the prefixes /usr and
# /usr/local, else under <prefix>/etc. Needs MCR_JOBS_DIR and MCR_WORK_DIR.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR CMAKE_INSTALL_PREFIX STREQUAL "/usr/local")
  set(sysconf /etc)
else()
  set(sysconf ${CMAKE_INSTALL_PREFIX}/etc)
endif()
file(REMOVE_RECURSE ${MCR_WORK_DIR})
file(MAKE_DIRECTORY ${MCR_WORK_DIR}/systemd)
file(GLOB units ${MCR_JOBS_DIR}/systemd/*.service ${MCR_JOBS_DIR}/systemd/*.timer)
foreach(unit ${units})
  get_filename_component(name ${unit} NAME)
  file(READ ${unit} text)
  # The units in jobs/systemd/ name the default prefix, /usr/local.
  string(REPLACE "/usr/local/bin/" "${CMAKE_INSTALL_PREFIX}/bin/" text "${text}")
  string(REPLACE "/usr/local/lib/mcr/" "${CMAKE_INSTALL_PREFIX}/lib/mcr/" text "${text}")
  file(WRITE ${MCR_WORK_DIR}/systemd/${name} "${text}")
endforeach()
file(GLOB made ${MCR_WORK_DIR}/systemd/*)
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES ${made})
file(INSTALL DESTINATION "${sysconf}/logrotate.d" TYPE FILE RENAME mcr
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES ${MCR_JOBS_DIR}/mcr.logrotate)
