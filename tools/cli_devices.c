typedef int stub_cli_devices;
