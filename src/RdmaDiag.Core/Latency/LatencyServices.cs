using System.Net;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Latency;

/// <summary>
/// What `rdmadiag serve --soft` runs for `rdmadiag latency` and `compare` beside its probe server: the
/// tcp/udp echo responder (<see cref="LatencyResponder"/>, port 18515, for tcp and rx-stamp) and the
/// soft latency responder (<see cref="SoftLatencyResponder"/>, port 18516, for send, write and read)
/// with the serve's own MPA/CRC setup. A port that cannot be bound (another serve holds it) is logged
/// and skipped, so the probe server still runs. `serve --verbs` starts them with <see cref="StartVerbs"/>:
/// the same responder on 18516 through rdma_cm (latency send, write, read --verbs).
/// </summary>
public sealed class LatencyServices : IDisposable
{
    private readonly LatencyResponder? _tcp;
    private readonly SoftLatencyResponder? _soft;

    private LatencyServices(LatencyResponder? tcp, SoftLatencyResponder? soft)
    {
        _tcp = tcp;
        _soft = soft;
    }

    /// <summary>The tcp/udp echo responder's address, null when it could not listen.</summary>
    public IPEndPoint? TcpEndPoint => _tcp?.LocalEndPoint;

    /// <summary>The RDMA latency responder's address (soft or verbs), null when it could not listen.</summary>
    public IPEndPoint? SoftEndPoint => _soft?.LocalEndPoint;

    /// <summary>The tcp/udp echo responder and the RDMA latency responder on the userspace endpoint with <paramref name="setup"/>.</summary>
    public static LatencyServices Start(IPAddress address, IwarpSetupOptions setup, TextWriter log,
        int tcpPort = LatencyResponder.DefaultPort, int softPort = SoftLatencyProtocol.DefaultPort) =>
        Start(address, log, tcpPort, "soft", () => new SoftLatencyResponder(new IPEndPoint(address, softPort), setup, log));

    /// <summary>
    /// The tcp/udp echo responder and the RDMA latency responder through rdma_cm on the device holding
    /// <paramref name="address"/>; a host without usable RDMA gets the echo responder and a log line why not.
    /// </summary>
    public static LatencyServices StartVerbs(IPAddress address, TextWriter log,
        int tcpPort = LatencyResponder.DefaultPort, int verbsPort = SoftLatencyProtocol.DefaultPort) =>
        Start(address, log, tcpPort, "verbs", () =>
        {
            try
            {
                return SoftLatencyResponder.StartVerbs(new IPEndPoint(address, verbsPort), log);
            }
            catch (Verbs.VerbsUnavailableException e)
            {
                throw new UserInputException(e.Message);
            }
        });

    private static LatencyServices Start(IPAddress address, TextWriter log, int tcpPort, string engine, Func<SoftLatencyResponder> rdma)
    {
        LatencyResponder? tcp = null;
        SoftLatencyResponder? soft = null;
        try
        {
            tcp = new LatencyResponder(new IPEndPoint(address, tcpPort));
            log.WriteLine($"latency: tcp/udp echo responder on {tcp.LocalEndPoint} (latency tcp, rx-stamp)");
        }
        catch (UserInputException e)
        {
            log.WriteLine($"latency: no tcp/udp echo responder: {e.Message}");
        }
        try
        {
            soft = rdma();
            log.WriteLine($"latency: {soft.Engine} latency responder on {soft.LocalEndPoint} (latency send, write, read --{soft.Engine})");
        }
        catch (UserInputException e)
        {
            log.WriteLine($"latency: no {engine} latency responder: {e.Message}");
        }
        return new LatencyServices(tcp, soft);
    }

    public void Dispose()
    {
        _soft?.Dispose();
        _tcp?.Dispose();
    }
}
