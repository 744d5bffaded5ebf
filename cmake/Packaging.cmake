# SPDX-License-Identifier: MIT
# The Debian package: `cpack -G DEB` in a build tree configured with -DCMAKE_INSTALL_PREFIX=/usr
# (scripts/test-deb does this, installs the result and checks it).
#
# Why CPack rather than debian/ + debhelper: the package is built from the same install rules
# that `cmake --install` uses, with no second description of the file list to drift. What
# debhelper would generate (sysusers, tmpfiles, daemon-reload, conffiles) is written out by hand
# in packaging/deb/, each line with its reason.
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  # An /usr/local package would put the conffile in /usr/local/etc and the unit where systemd
  # does not look: refuse to describe one rather than build it wrong.
  return()
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pnsync)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "mirror credentialed PhysioNet datasets")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "mirror credentialed PhysioNet datasets
 pnsyncd mirrors PhysioNet project versions to local or shared storage:
 authenticated, parallel and resumable, every file verified against
 SHA256SUMS.txt or the listing's size before it counts as done, and the state of
 every file kept in SQLite so restarts neither download nor list again.
 .
 pnsyncctl shows progress and controls the running daemon. The package ships a
 hardened systemd unit (not enabled: configure /etc/pnsync/pnsync.yaml first).")
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # pnsync_0.1.0-1_amd64.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "pnsync developers <pnsync@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from dpkg-shlibdeps (libcurl4, libsqlite3-0, libssl3, libyaml-cpp0.7,
# libstdc++6, ...), merged with these: the maintainer scripts run systemd-sysusers and
# systemd-tmpfiles, which Debian 12's systemd provides (or the standalone packages, in
# containers without systemd).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | systemd-sysusers, systemd | systemd-tmpfiles")
set(CPACK_STRIP_FILES ON)  # debug information stays in the build tree, as with dh_strip

configure_file(${PROJECT_SOURCE_DIR}/packaging/deb/conffiles.in
               ${CMAKE_CURRENT_BINARY_DIR}/packaging/conffiles @ONLY)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_BINARY_DIR}/packaging/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
    ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/postrm)
# 0755 scripts and 0644 data in DEBIAN/, whatever the checkout's modes: dpkg and lintian insist.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
