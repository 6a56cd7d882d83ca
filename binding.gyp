{
  "targets": [
    {
      "target_name": "tcpdir_sockdiag",
      "sources": ["native/sockdiag/addon.cc", "native/sockdiag/dump.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O2", "-fvisibility=hidden"]
    }
  ]
}
