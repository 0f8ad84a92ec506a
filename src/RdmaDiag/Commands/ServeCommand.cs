using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using RdmaDiag.Endpoint;
using RdmaDiag.Rping;
using RdmaDiag.Verbs;

namespace RdmaDiag.Cli.Commands;

/// <summary>
/// `rdmadiag serve --soft`: the userspace iWARP endpoint as MPA responder, serving the probe protocol
/// that `check --soft` runs against, until SIGINT or SIGTERM.
/// </summary>
public sealed class ServeCommand : Command
{
    private readonly Option<bool> _soft = new("--soft") { Description = "Serve with RdmaDiag's userspace iWARP endpoint (MPA/DDP/RDMAP over TCP, like siw)" };
    private readonly Option<bool> _verbs = new("--verbs") { Description = "Serve through rdma_cm on this host's RDMA device (kernel siw, an RNIC); needs --rping" };
    private readonly Option<bool> _rping = new("--rping") { Description = "Serve rping's protocol (for `rping -c` or `check --rping`) instead of the probe protocol" };
    private readonly Option<string> _listen = new("--listen") { Description = "Local address to listen on", DefaultValueFactory = _ => "0.0.0.0" };
    private readonly Option<int> _port = new("--port") { Description = "TCP port (0: any free port)", DefaultValueFactory = _ => IwarpSetupOptions.DefaultPort };
    private readonly Option<string> _crc = new("--crc") { Description = "CRC policy: off (use CRCs only if the peer asks), preferred, required, forbidden", HelpName = "required|preferred|off|forbidden" };
    private readonly Option<bool> _markers = new("--markers") { Description = "Ask initiators to insert MPA markers (M=1)" };
    private readonly Option<bool> _refuseMarkers = new("--refuse-markers") { Description = "Reject initiators that ask for markers, as siw does" };
    private readonly Option<int?> _mpaRev = new("--mpa-rev") { Description = "Highest MPA revision accepted: 1 or 2 (default 2)" };
    private readonly Option<string> _p2p = new("--p2p") { Description = "RTR types accepted from peer-to-peer initiators (default write,read as siw)", HelpName = "send|write|read|all" };
    private readonly Option<int?> _ird = new("--ird") { Description = "Inbound RDMA Reads/Atomics held at once (default 16)" };
    private readonly Option<int?> _ord = new("--ord") { Description = "Outbound RDMA Reads/Atomics at once (default 16)" };
    private readonly Option<bool> _strictIrdOrd = new("--strict-ird") { Description = "Strict RFC 6581 IRD/ORD negotiation instead of Linux's relaxed one" };
    private readonly Option<int?> _pdLimit = new("--pd-limit") { Description = "Largest PD_Length accepted and sent: 256 (Linux, default) or 512 (RFC 5044)" };
    private readonly Option<double?> _handshakeTimeout = new("--handshake-timeout") { Description = "Seconds to wait for an MPA Request after TCP accept (default 5, as siw)" };
    private readonly Option<int> _maxConnections = new("--max-connections") { Description = "Connections served at once; more are rejected (R=1)", DefaultValueFactory = _ => 64 };

    public ServeCommand() : base("serve", "Serve iWARP connections for `rdmadiag check` to probe; runs until Ctrl-C.")
    {
        Options.Add(_soft);
        Options.Add(_verbs);
        Options.Add(_rping);
        Options.Add(_listen);
        Options.Add(_port);
        Options.Add(_crc);
        Options.Add(_markers);
        Options.Add(_refuseMarkers);
        Options.Add(_mpaRev);
        Options.Add(_p2p);
        Options.Add(_ird);
        Options.Add(_ord);
        Options.Add(_strictIrdOrd);
        Options.Add(_pdLimit);
        Options.Add(_handshakeTimeout);
        Options.Add(_maxConnections);
        SetAction(Run);
    }

    private int Run(ParseResult parse)
    {
        TextWriter output = parse.InvocationConfiguration.Output;
        bool soft = parse.GetValue(_soft), verbs = parse.GetValue(_verbs), rping = parse.GetValue(_rping);
        if (soft == verbs)
        {
            throw new UserInputException(soft
                ? "--soft and --verbs both given; choose one engine"
                : "serve needs --soft (the userspace iWARP endpoint) or --verbs (rdma_cm on this host's RDMA device)");
        }
        if (verbs && !rping)
        {
            throw new UserInputException("--verbs needs --rping: over rdma_cm this build serves rping's protocol only (the probe protocol runs on the userspace endpoint)");
        }
        // rping's IRD and ORD (1) unless given, as a stock rping server would accept.
        int? rpingDepth = rping ? RpingProtocol.ReadDepth : null;
        IwarpSetupOptions setup = IwarpSetupOptions.FromCommandLine(
            parse.GetValue(_mpaRev), parse.GetValue(_crc), parse.GetValue(_markers), parse.GetValue(_refuseMarkers), parse.GetValue(_p2p),
            parse.GetValue(_ird) ?? rpingDepth, parse.GetValue(_ord) ?? rpingDepth, parse.GetValue(_strictIrdOrd), parse.GetValue(_pdLimit), parse.GetValue(_handshakeTimeout));
        int port = IwarpSetupOptions.CheckPort(parse.GetValue(_port), allowAny: true);
        int maxConnections = parse.GetValue(_maxConnections);
        if (maxConnections < 1)
        {
            throw new UserInputException($"--max-connections {maxConnections} must be at least 1");
        }
        var endpoint = new IPEndPoint(ResolveListen(parse.GetValue(_listen)!), port);
        if (rping)
        {
            return ServeRping(output, endpoint, verbs, setup, maxConnections);
        }

        SoftServer server;
        try
        {
            server = SoftServer.Start(endpoint, setup, output, maxConnections);
        }
        catch (SocketException e)
        {
            throw new UserInputException($"--listen {endpoint.Address} --port {port}: cannot listen there: {e.Message}");
        }
        using var stop = new CancellationTokenSource();
        using var signals = StopOnSignals(stop);
        output.WriteLine($"rdmadiag serve --soft: listening on {server.LocalEndPoint} ({setup}; probe protocol v{ProbeMessage.CurrentVersion}); Ctrl-C stops");
        // The latency responders (tcp/udp echo on 18515, soft iWARP on 18516) ride along with the probe server.
        using var latency = RdmaDiag.Latency.LatencyServices.Start(endpoint.Address, setup, output);
        output.Flush();
        server.RunAsync(stop.Token).GetAwaiter().GetResult();
        output.WriteLine("rdmadiag serve: stopped");
        return ExitCodes.Ok;
    }

    /// <summary>rping's server role on either transport, one session per connection, until SIGINT or SIGTERM.</summary>
    private static int ServeRping(TextWriter output, IPEndPoint endpoint, bool verbs, IwarpSetupOptions setup, int maxConnections)
    {
        ITransportListener listener;
        try
        {
            listener = verbs ? VerbsListener.Start(endpoint, VerbsOptions.Rping) : SoftListener.Start(endpoint, setup);
        }
        catch (SocketException e)
        {
            throw new UserInputException($"--listen {endpoint.Address} --port {endpoint.Port}: cannot listen there: {e.Message}");
        }
        catch (IwarpException e)
        {
            throw new UserInputException($"--verbs --listen {endpoint.Address} --port {endpoint.Port}: cannot listen there: {e.Message}");
        }
        catch (VerbsUnavailableException e)
        {
            throw new UserInputException($"--verbs: {e.Message}");
        }
        using TransportServer server = TransportServer.Start(listener, transport => new RpingServer(transport), output, maxConnections);
        using var stop = new CancellationTokenSource();
        using var signals = StopOnSignals(stop);
        output.WriteLine($"rdmadiag serve --{(verbs ? "verbs" : "soft")} --rping: listening on {server.LocalEndPoint} (rping protocol{(verbs ? "" : $"; {setup}")}); Ctrl-C stops");
        output.Flush();
        server.RunAsync(stop.Token).GetAwaiter().GetResult();
        output.WriteLine("rdmadiag serve: stopped");
        return ExitCodes.Ok;
    }

    private static IDisposable StopOnSignals(CancellationTokenSource stop)
    {
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
        var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        return new Signals(sigint, sigterm);
    }

    private sealed class Signals(PosixSignalRegistration sigint, PosixSignalRegistration sigterm) : IDisposable
    {
        public void Dispose()
        {
            sigint.Dispose();
            sigterm.Dispose();
        }
    }

    private static IPAddress ResolveListen(string text)
    {
        if (IPAddress.TryParse(text, out IPAddress? address))
        {
            return address;
        }
        try
        {
            return Dns.GetHostAddresses(text).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
                ?? throw new UserInputException($"--listen '{text}' has no IPv4 address; give an address to listen on");
        }
        catch (SocketException e)
        {
            throw new UserInputException($"--listen '{text}' is neither an IP address nor a resolvable host name ({e.Message})");
        }
    }
}
