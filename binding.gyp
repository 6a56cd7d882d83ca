{
  "targets": [
    {
      "target_name": "tcpdir_sockdiag",
      "sources": ["native/sockdiag/addon.cc", "native/sockdiag/dump.cc", "native/sockdiag/netns.cc", "native/sockdiag/conntrack.cc", "native/sockdiag/proc-fd.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O2", "-fvisibility=hidden"]
    },
    {
      "target_name": "tcpdir_kernel",
      "sources": ["native/kernel/kernel_addon.cc", "native/kernel/loader.c"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/kernel",
        "native/kernel/vendor"
      ],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_c": ["-std=gnu11", "-O2", "-fvisibility=hidden"],
      "cflags_cc": ["-std=c++17", "-O2", "-fvisibility=hidden"]
    }
  ]
}
