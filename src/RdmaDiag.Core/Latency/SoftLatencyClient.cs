using System.Diagnostics;
using System.Net;
using RdmaDiag.Endpoint;
using RdmaDiag.Verbs;

namespace RdmaDiag.Latency;

/// <summary>
/// The client half of <see cref="SoftLatencyProtocol"/>, shared by the send, write and read modes:
/// connects to a soft latency responder (or starts one in-process), then frames each message size
/// with Setup/Ready and end marker/Done. The modes run the measured traffic on <see cref="Transport"/>.
/// </summary>
internal sealed class SoftLatencyClient : IDisposable
{
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(3);

    private readonly SoftLatencyResponder? _local;
    private readonly TransportRegion _control;
    private readonly TransportRegion _request;
    private readonly string _mode;
    private ulong _seed = 0x1A7E_0C1C;

    private SoftLatencyClient(IRdmaTransport transport, SoftLatencyResponder? local, string mode, LatencyRunSettings settings)
    {
        Transport = transport;
        _local = local;
        _mode = mode;
        Settings = settings;
        TimeoutTicks = (long)(settings.ReplyTimeout.TotalSeconds * Stopwatch.Frequency);
        _control = transport.Register(SoftLatencyProtocol.ControlLength, MemoryAccess.LocalWrite);
        _request = transport.Register(SoftLatencyProtocol.ControlLength, MemoryAccess.None);
    }

    /// <summary>The userspace endpoint (--soft) or an rdma_cm connection on a device (--verbs).</summary>
    public IRdmaTransport Transport { get; }

    public LatencyRunSettings Settings { get; }

    /// <summary>The responder's largest message, from its MPA Reply.</summary>
    public int MaxMessage { get; private set; }

    /// <summary>The reply timeout in Stopwatch ticks.</summary>
    public long TimeoutTicks { get; }

    /// <summary>
    /// Connects for <paramref name="op"/>. Unreachable or wrong peers, refused CRC policies and sizes
    /// above the responder's limit are <see cref="UserInputException"/>s; --verbs on a host without a
    /// usable RDMA device is <see cref="LatencyUnavailableException"/> with the devices diagnosis.
    /// </summary>
    public static SoftLatencyClient Open(LatencyRunSettings settings, SoftLatencyOp op, string mode, List<string> notes) =>
        settings.Transport == RdmaTransport.Verbs ? OpenVerbs(settings, op, mode, notes) : OpenSoft(settings, op, mode, notes);

    private static SoftLatencyClient OpenSoft(LatencyRunSettings settings, SoftLatencyOp op, string mode, List<string> notes)
    {
        var (local, target) = SoftLatencyResponder.ForRun(settings, mode, notes);
        var host = settings.Host ?? "loopback";
        var connection = new IwarpConnection(new IwarpConnectionOptions
        {
            // Write is polled in memory while the receive thread places it; send and read wait on
            // completions, and the waiting thread drives the stream itself.
            Progress = op == SoftLatencyOp.Write ? ProgressMode.Background : ProgressMode.Inline,
            BusyPoll = settings.BusyPoll,
        });
        SoftLatencyClient? client = null;
        try
        {
            client = new SoftLatencyClient(new SoftTransport(connection), local, mode, settings);
            var setup = new IwarpSetupOptions
            {
                Crc = settings.Crc ? CrcPolicy.Required : CrcPolicy.Off,
                ConnectTimeout = ConnectTimeout,
                HandshakeTimeout = ConnectTimeout,
            };
            NegotiatedParameters parameters;
            try
            {
                parameters = connection.Connect(target, setup, SoftLatencyProtocol.WriteHello(op, settings.BusyPoll));
            }
            catch (IwarpException e)
            {
                throw ConnectFailure(host, target, e, "--soft");
            }
            client.Admitted(host, target, parameters.PeerPrivateData.Span, "--soft");
            notes.Add($"{mode}: userspace iWARP endpoint, {Describe(parameters)}");
            notes.Add(op switch
            {
                SoftLatencyOp.Write => $"write: each side polls the last octet of its region (as ib_write_lat){(settings.BusyPoll ? ", spinning" : ", yielding the CPU between looks")}; a receive thread places the Writes",
                SoftLatencyOp.Read => $"read: one RDMA Read outstanding; the initiator drives its stream inline{(settings.BusyPoll ? ", busy-polling" : ", blocking")}; the responder answers from its helper thread",
                _ => $"send: both ends drive their stream inline (no receive thread){(settings.BusyPoll ? ", busy-polling" : ", blocking")}",
            });
            return client;
        }
        catch
        {
            if (client is null)
            {
                connection.Dispose();
                local?.Dispose();
            }
            else
            {
                client.Abort();
            }
            throw;
        }
    }

    private static SoftLatencyClient OpenVerbs(LatencyRunSettings settings, SoftLatencyOp op, string mode, List<string> notes)
    {
        if (settings.Host is null)
        {
            VerbsTransport.CheckAvailable(settings.VerbsDevice);
            throw new UserInputException($"--verbs needs HOST: the verbs latency responder runs on another host or namespace (`rdmadiag latency serve --verbs` there); without HOST, --soft measures against an in-process responder");
        }
        var target = new IPEndPoint(LatencyResponder.Resolve(settings.Host), settings.Port == 0 ? SoftLatencyProtocol.DefaultPort : settings.Port);
        VerbsConnection connection;
        try
        {
            // rdma_cm's own connect timeout (10 s): siw under a loaded or emulated host needs more than the soft 3 s.
            connection = VerbsConnection.Create(target, new VerbsOptions { PrivateData = SoftLatencyProtocol.WriteHello(op, settings.BusyPoll) });
        }
        catch (VerbsUnavailableException e)
        {
            throw VerbsTransport.Unavailable(e, settings.VerbsDevice);
        }
        catch (IwarpException e)
        {
            throw ConnectFailure(settings.Host, target, e, "--verbs");
        }
        SoftLatencyClient? client = null;
        try
        {
            if (settings.VerbsDevice is { } device && connection.Device?.Name != device)
            {
                throw new UserInputException($"verbs:{device}: the route to {settings.Host} ({target}) goes through {connection.Device?.Name ?? "no device"}, not {device}");
            }
            client = new SoftLatencyClient(connection, null, mode, settings);
            VerbsConnectionInfo info;
            try
            {
                info = connection.Connect();
            }
            catch (IwarpException e)
            {
                throw ConnectFailure(settings.Host, target, e, "--verbs");
            }
            client.Admitted(settings.Host, target, info.PeerPrivateData.Span, "--verbs");
            notes.Add($"{mode}: verbs latency responder at {settings.Host} ({target})");
            notes.Add($"{mode}: verbs through rdma_cm, {info}");
            notes.Add(op switch
            {
                SoftLatencyOp.Write => $"write: each side polls the last octet of its registered region (as ib_write_lat){(settings.BusyPoll ? ", spinning" : ", yielding the CPU between looks")}; the device places the Writes",
                SoftLatencyOp.Read => "read: one RDMA Read outstanding, its completion polled from the CQ",
                _ => "send: each echo's receive completion polled from the CQ",
            });
            return client;
        }
        catch
        {
            if (client is null)
            {
                connection.Dispose();
            }
            else
            {
                client.Abort();
            }
            throw;
        }
    }

    /// <summary>Checks the responder's MPA Reply private data and the run's sizes against its limit.</summary>
    private void Admitted(string host, IPEndPoint target, ReadOnlySpan<byte> reply, string engine)
    {
        var kind = engine == "--soft" ? "soft" : "verbs";
        if (!SoftLatencyProtocol.TryReadReply(reply, out var version, out var status, out var maxMessage))
        {
            var serves = engine == "--soft" ? "`rdmadiag serve --soft`" : "`rdmadiag latency serve --verbs`";
            throw new UserInputException($"{host} ({target}): an MPA responder, but not a {kind} latency responder (its Reply carries no RDLT private data); {serves} serves latency on port {SoftLatencyProtocol.DefaultPort}");
        }
        if (status != SoftLatencyStatus.Ok || version != SoftLatencyProtocol.Version)
        {
            throw new UserInputException($"{host} ({target}): the {kind} latency responder (protocol v{version}) accepted with status {status}; this client speaks v{SoftLatencyProtocol.Version}");
        }
        var largest = Settings.Sizes.Max();
        if (largest > maxMessage)
        {
            throw new UserInputException($"--size {largest}: above the {maxMessage}-byte ({LatencySeries.FormatSize(maxMessage)}) memory region limit of the {kind} latency responder at {host}");
        }
        MaxMessage = maxMessage;
    }

    /// <summary>
    /// Starts a size: Setup (with this side's write region, if any) and the responder's Ready. Returns
    /// Ready, whose STag and TO name the responder's region for write and read, and the seed in use.
    /// </summary>
    public SoftLatencyControl BeginSize(int size, out ulong seed, TransportRegion? localRegion = null)
    {
        seed = _seed = _seed * 6364136223846793005UL + 1442695040888963407UL;
        var ready = Exchange(new SoftLatencyControl(SoftLatencyOpcode.Setup, Size: size, Seed: seed,
            TaggedOffset: localRegion?.RemoteAddress ?? 0, STag: localRegion?.RemoteKey ?? 0), zeroLength: false);
        if (ready.Opcode != SoftLatencyOpcode.Ready || ready.Status != SoftLatencyStatus.Ok || ready.Size != size)
        {
            throw new IOException($"{_mode} {LatencySeries.FormatSize(size)}: the responder answered Setup with {ready.Opcode} status {ready.Status} for {ready.Size} octets");
        }
        return ready;
    }

    /// <summary>Ends a size with the zero-length end marker and returns the responder's Done.</summary>
    public SoftLatencyControl EndSize(int size)
    {
        var done = Exchange(default, zeroLength: true);
        if (done.Opcode != SoftLatencyOpcode.Done || done.Size != size)
        {
            throw new IOException($"{_mode} {LatencySeries.FormatSize(size)}: the responder answered the end of the size with {done.Opcode} for {done.Size} octets");
        }
        return done;
    }

    private SoftLatencyControl Exchange(in SoftLatencyControl request, bool zeroLength)
    {
        Transport.PostReceive(0, _control, 0, SoftLatencyProtocol.ControlLength);
        if (!zeroLength)
        {
            request.Write(_request.Span);
        }
        LatencyPosts.Send(Transport, _request, zeroLength ? 0 : SoftLatencyProtocol.ControlLength);
        var completion = WaitReceive();
        if (!SoftLatencyControl.TryRead(_control.Span[..completion.ByteLength], out var reply, out var error))
        {
            throw new IOException($"{_mode}: the responder's control message is malformed: {error}");
        }
        return reply;
    }

    /// <summary>The next Receive completion within the reply timeout; a failed one ends the run.</summary>
    public Completion WaitReceive()
    {
        while (true)
        {
            var completion = Transport.WaitForCompletion(Settings.ReplyTimeout);
            if (!completion.IsSuccess)
            {
                throw (Exception?)Transport.Error ?? new IOException($"{_mode}: {completion}");
            }
            if (completion.Opcode is CompletionOpcode.Receive)
            {
                return completion;
            }
        }
    }

    public void Dispose()
    {
        Transport.Close();
        _local?.Dispose();
    }

    /// <summary>Releases everything after a failed open, without the graceful close.</summary>
    private void Abort()
    {
        Transport.Dispose();
        _local?.Dispose();
    }

    /// <summary>"MPA rev 2, CRC on, markers off, EMSS 65483, MULPDU 65462".</summary>
    public static string Describe(NegotiatedParameters p) =>
        $"MPA rev {p.ReplyRevision}, CRC {(p.Crc ? "on" : "off")}, markers {(p.MarkersSent || p.MarkersReceived ? "on" : "off")}, EMSS {p.Emss}, MULPDU {p.Mulpdu}";

    private static UserInputException ConnectFailure(string host, IPEndPoint target, IwarpException e, string engine)
    {
        var hint = e.Kind switch
        {
            IwarpErrorKind.TcpRefused or IwarpErrorKind.TcpUnreachable or IwarpErrorKind.TcpTimeout or IwarpErrorKind.TcpError =>
                $"is a latency responder running there with {engine}? (`rdmadiag latency serve {engine}`, or `rdmadiag serve --soft`, listen on port {SoftLatencyProtocol.DefaultPort})",
            IwarpErrorKind.MpaRejected => "the responder refused this client" + RejectReason(e.PeerPrivateData.Span),
            IwarpErrorKind.CrcPolicyConflict => "the responder's CRC policy does not allow this --crc setting",
            _ => $"is it a latency responder with {engine} (port {SoftLatencyProtocol.DefaultPort})?",
        };
        return new UserInputException($"{host} ({target}): {e.Message}; {hint}");
    }

    private static string RejectReason(ReadOnlySpan<byte> privateData) =>
        SoftLatencyProtocol.TryReadReply(privateData, out var version, out var status, out _)
            ? $" (status {status}, protocol v{version})"
            : "";
}
