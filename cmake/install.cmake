# What `cmake --install` and the Debian package (cpack -G DEB) install besides the
# programs (docs/OPERATIONS.md, "Install"):
#   <prefix>/bin/mcr-*                       the programs (cmake/programs.cmake)
#   <prefix>/share/man/man1/mcr-*.1          man pages made by help2man from --help
#   <prefix>/lib/systemd/system/mcr-*        the systemd units and timers, ExecStart=
#                                            rewritten for the prefix
#   <prefix>/lib/mcr/mcr-alert               the units' OnFailure= handler
#   <prefix>/share/doc/mcr/examples/         mcr.yaml (example config), crontab
#   /etc/logrotate.d/mcr                     the logs' rotation (<prefix>/etc/... for
#                                            prefixes other than /usr and /usr/local)
# The package adds the mcr system user and /etc/mcr, /var/lib/mcr, /var/log/mcr
# (packaging/debian/postinst).

# ---- man pages ---------------------------------------------------------------
find_program(HELP2MAN help2man)
get_property(mcr_programs GLOBAL PROPERTY MCR_PROGRAMS)
# Each page's NAME line (DESIGN.md's programs table).
set(man_name_mcr-synth "write a sample region: source exports and its config")
set(man_name_mcr-extract-gp "GP coded data (FHIR R4 XML, JSON, NDJSON) to a staged file")
set(man_name_mcr-extract-lcs "social care (Liquidlogic LCS) CSV extract to a staged file")
set(man_name_mcr-extract-ooh "out-of-hours / NHS 111 CDA documents to a staged file")
set(man_name_mcr-load "all complete staged files to a new store generation, published atomically")
set(man_name_mcr-lookup "one person's shared care record for one user: the Health link")
set(man_name_mcr-report "coverage, access, break-glass, loads and audit verification reports")
set(man_name_mcr-nightly "one unattended night: extracts, load, archive, coverage report")
set(man_name_mcr-serve "the Health link web service")
set(man_name_mcr-launch "sign a launch token for mcr-serve as a host system does")
if(HELP2MAN)
  set(man_pages "")
  foreach(prog ${mcr_programs})
    set(page ${PROJECT_BINARY_DIR}/man/${prog}.1)
    add_custom_command(OUTPUT ${page}
      COMMAND ${PROJECT_SOURCE_DIR}/cmake/man.sh ${HELP2MAN} $<TARGET_FILE:${prog}> ${page}
              "${man_name_${prog}}"
      DEPENDS ${prog} ${PROJECT_SOURCE_DIR}/cmake/man.sh
      COMMENT "Man page ${prog}.1 (help2man)" VERBATIM)
    list(APPEND man_pages ${page})
  endforeach()
  add_custom_target(man ALL DEPENDS ${man_pages})
  install(FILES ${man_pages} DESTINATION share/man/man1)
else()
  message(STATUS "help2man not found: no man pages (scripts/deps.sh installs it)")
endif()

# ---- operations files --------------------------------------------------------
install(PROGRAMS ${PROJECT_SOURCE_DIR}/jobs/mcr-alert DESTINATION lib/mcr)
install(FILES ${PROJECT_SOURCE_DIR}/jobs/mcr.yaml.example DESTINATION share/doc/mcr/examples
        RENAME mcr.yaml)
install(FILES ${PROJECT_SOURCE_DIR}/jobs/crontab.example DESTINATION share/doc/mcr/examples
        RENAME crontab)
# The units name the programs' paths and /etc is outside the prefix: both are
# settled when installing (the prefix of cmake --install, /usr in the package).
install(CODE "set(MCR_JOBS_DIR \"${PROJECT_SOURCE_DIR}/jobs\")
set(MCR_WORK_DIR \"${PROJECT_BINARY_DIR}/install-work\")")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/install_ops.cmake)

# ---- the Debian package: cpack -G DEB (scripts/package.sh) ----------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mcr)
set(CPACK_PACKAGE_VENDOR "Shared care record project")
set(CPACK_PACKAGE_CONTACT "Shared care record operators <mcr-operators@example.nhs.uk>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Regional shared care record: nightly extract and load, the Health link, IG reports")
set(CPACK_PACKAGE_DESCRIPTION "Extractors for GP (FHIR), social care (CSV) and out-of-hours (CDA)
exports, a loader building a consolidated read-only store, mcr-lookup and the mcr-serve
web service for practitioners, mcr-report for information governance, and the nightly
job with its systemd units.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)  # /etc/logrotate.d and the prefix-dependent unit paths
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate, systemd | cron")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "nginx, default-mta | mail-transport-agent")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
