{
  "targets": [
    {
      "target_name": "tcpdir_sockdiag",
      "sources": ["native/sockdiag/addon.cc", "native/sockdiag/dump.cc", "native/sockdiag/netns.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O2", "-fvisibility=hidden"]
    },
    {
      "target_name": "tcpdir_kernel",
      "variables": {
        "tcpdir_has_bpf": "<!(node scripts/has-bpf-toolchain.js)"
      },
      "conditions": [
        ["tcpdir_has_bpf==1", {
          "sources": ["native/kernel/kernel_addon.cc"],
          "include_dirs": [
            "<!(node -p \"require('node-addon-api').include_dir\")",
            "native/kernel",
            "<(INTERMEDIATE_DIR)/bpf"
          ],
          "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions"],
          "cflags_cc": ["-std=c++17", "-O2", "-fvisibility=hidden"],
          "libraries": ["-lbpf", "-lelf", "-lz"],
          "actions": [
            {
              "action_name": "tcpdir_bpf_skeleton",
              "inputs": ["native/kernel/tcpdir.bpf.c", "native/kernel/tcpdir_records.h", "scripts/build-bpf.sh"],
              "outputs": ["<(INTERMEDIATE_DIR)/bpf/tcpdir.skel.h"],
              "action": ["sh", "scripts/build-bpf.sh", "native/kernel/tcpdir.bpf.c", "<(INTERMEDIATE_DIR)/bpf/tcpdir.skel.h"],
              "message": "Building the eBPF programs (clang) and their libbpf skeleton (bpftool)"
            }
          ]
        }, {
          "type": "none"
        }]
      ]
    }
  ]
}
