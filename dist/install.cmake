# Installed layout (DESIGN.md "Installed layout") and the Debian package (cpack -G DEB).
# With the default prefix /usr: /usr/sbin/radsecgw, /etc/radsecgw/radsecgw.conf (conffile),
# /lib/systemd/system/radsecgw.service, radsecgw(8), radsecgw.conf(5), /usr/share/doc/radsecgw.

set(RG_CONFIG_DIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/radsecgw)
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(RG_UNIT_DIR_DEFAULT /lib/systemd/system) # Debian 12 (pkg-config systemd)
else()
  set(RG_UNIT_DIR_DEFAULT ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(RG_SYSTEMD_UNIT_DIR ${RG_UNIT_DIR_DEFAULT} CACHE PATH "Where radsecgw.service is installed")
if(NOT RG_CONFIG_DIR STREQUAL "/etc/radsecgw")
  message(STATUS "radsecgw: config in ${RG_CONFIG_DIR}; the daemon's default stays "
                 "/etc/radsecgw/radsecgw.conf (the unit passes -c)")
endif()

configure_file(${CMAKE_SOURCE_DIR}/dist/systemd/radsecgw.service.in
               ${CMAKE_BINARY_DIR}/dist/radsecgw.service @ONLY)

# Man pages and the changelog, gzip -9n (no timestamp: reproducible, as lintian wants).
set(RG_GZ_FILES)
foreach(pair "docs/man/radsecgw.8;radsecgw.8.gz" "docs/man/radsecgw.conf.5;radsecgw.conf.5.gz"
             "dist/debian/changelog;changelog.gz")
  list(GET pair 0 src)
  list(GET pair 1 dst)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/dist/${dst}
    COMMAND gzip -9nc ${CMAKE_SOURCE_DIR}/${src} > ${CMAKE_BINARY_DIR}/dist/${dst}
    DEPENDS ${CMAKE_SOURCE_DIR}/${src} VERBATIM)
  list(APPEND RG_GZ_FILES ${CMAKE_BINARY_DIR}/dist/${dst})
endforeach()
add_custom_target(rg_dist_files ALL DEPENDS ${RG_GZ_FILES})

# a daemon facing the network: full RELRO (lintian hardening-no-bindnow)
target_link_options(radsecgw PRIVATE -Wl,-z,relro,-z,now)

install(TARGETS radsecgw DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES etc/radsecgw.conf DESTINATION ${RG_CONFIG_DIR})
install(DIRECTORY DESTINATION ${RG_CONFIG_DIR}/orgs.d)
install(FILES ${CMAKE_BINARY_DIR}/dist/radsecgw.service DESTINATION ${RG_SYSTEMD_UNIT_DIR})
install(FILES ${CMAKE_BINARY_DIR}/dist/radsecgw.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${CMAKE_BINARY_DIR}/dist/radsecgw.conf.5.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES README.md docs/operations.md docs/architecture.md docs/meraki.md
              docs/benchmarks.md dist/debian/copyright ${CMAKE_BINARY_DIR}/dist/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES etc/prometheus/prometheus.yml etc/prometheus/radsecgw-alerts.yml
              etc/prometheus/grafana-dashboard.json
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/prometheus)

# ---- cpack -G DEB ----
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME radsecgw)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGE_CONTACT "radsecgw maintainers <maintainers@radsecgw.invalid>"
    CACHE STRING "Maintainer field of the .deb")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "RadSec (RADIUS over TLS) gateway to UDP RADIUS servers")
# CPack puts the summary first and indents these lines (at most 79 columns each).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "radsecgw terminates RADIUS over TLS (RFC 6614, TCP port 2083) from Wi-Fi
access points such as Cisco Meraki MR, authenticates each one by its client
certificate against its organisation's root CA, and forwards the RADIUS inside
to the UDP RADIUS servers of the site, re-encrypting and re-signing every
packet. CoA and Disconnect-Requests are relayed back to the access points.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, ssl-cert")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/dist/debian/postinst ${CMAKE_SOURCE_DIR}/dist/debian/prerm
    ${CMAKE_SOURCE_DIR}/dist/debian/postrm ${CMAKE_SOURCE_DIR}/dist/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES TRUE)
include(CPack)
