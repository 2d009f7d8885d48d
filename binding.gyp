{
  "variables": {
    "prebuild%": 0
  },
  "targets": [
    {
      "target_name": "conntrack",
      "sources": [
        "native/addon.cc",
        "native/conntrack/dump.cc",
        "native/conntrack/errors.cc",
        "native/conntrack/events.cc",
        "native/conntrack/get-worker.cc",
        "native/conntrack/init.cc",
        "native/conntrack/kernel-stats.cc",
        "native/conntrack/lookup.cc",
        "native/conntrack/netns.cc",
        "native/conntrack/record.cc",
        "native/conntrack/records-worker.cc",
        "native/conntrack/silent-list.cc",
        "native/relay/init.cc",
        "native/relay/relay-connection.cc",
        "native/relay/relay-dial.cc",
        "native/relay/relay-loop.cc",
        "native/relay/relay.cc"
      ],
      "include_dirs": ["<!(node scripts/addon-api-dir.mjs)"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "_GNU_SOURCE",
        "LIBNETFILTER_CONNTRACK_VERSION=\"<!(pkg-config --modversion libnetfilter_conntrack)\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fexceptions"],
      "libraries": ["<!@(pkg-config --libs libnetfilter_conntrack libmnl)"],
      "cflags": ["<!@(pkg-config --cflags libnetfilter_conntrack libmnl)"],
      "conditions": [
        [
          "prebuild==1",
          {
            "sources": ["native/compat/glibc-2.31.cc"]
          }
        ]
      ]
    }
  ]
}
