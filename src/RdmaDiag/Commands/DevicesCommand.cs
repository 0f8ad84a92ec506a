using System.CommandLine;
using RdmaDiag.Diagnostics.Devices;

namespace RdmaDiag.Cli.Commands;

/// <summary>
/// `rdmadiag devices [--json]`: every RDMA device with driver, transport, ports, netdevs, SR-IOV role and
/// interop settings; with none, the cause and the fix. Exit 0 with at least one device, 3 with none.
/// </summary>
public sealed class DevicesCommand : Command
{
    private readonly Option<bool> _json = new("--json") { Description = "Print the report as one JSON object (snake_case keys)." };

    public DevicesCommand() : this(HostSource.Live, RdmaUserspace.Instance)
    {
    }

    internal DevicesCommand(IHostSource host, IRdmaUserspace userspace)
        : base("devices", "List RDMA devices (driver, transport, ports, netdevs, SR-IOV, iWARP settings), or say why there are none and how to fix it.")
    {
        Options.Add(_json);
        SetAction(parse =>
        {
            var report = DeviceReportBuilder.Build(host, userspace);
            var output = parse.InvocationConfiguration.Output;
            output.Write(parse.GetValue(_json) ? DevicesOutput.ToJson(report) + "\n" : DevicesOutput.ToText(report));
            return report.Devices.Count > 0 ? ExitCodes.Ok : ExitCodes.Unavailable;
        });
    }
}
