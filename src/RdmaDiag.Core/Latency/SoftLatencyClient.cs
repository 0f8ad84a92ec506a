using System.Diagnostics;
using System.Net;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Latency;

/// <summary>
/// The client half of <see cref="SoftLatencyProtocol"/>, shared by the send, write and read modes:
/// connects to a soft latency responder (or starts one in-process), then frames each message size
/// with Setup/Ready and end marker/Done. The modes run the measured traffic on <see cref="Connection"/>.
/// </summary>
internal sealed class SoftLatencyClient : IDisposable
{
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(3);

    private readonly SoftLatencyResponder? _local;
    private readonly byte[] _control = new byte[SoftLatencyProtocol.ControlLength];
    private readonly byte[] _request = new byte[SoftLatencyProtocol.ControlLength];
    private readonly string _mode;
    private ulong _seed = 0x1A7E_0C1C;

    private SoftLatencyClient(IwarpConnection connection, SoftLatencyResponder? local, string mode, LatencyRunSettings settings, int maxMessage)
    {
        Connection = connection;
        _local = local;
        _mode = mode;
        Settings = settings;
        MaxMessage = maxMessage;
        TimeoutTicks = (long)(settings.ReplyTimeout.TotalSeconds * Stopwatch.Frequency);
    }

    public IwarpConnection Connection { get; }

    public LatencyRunSettings Settings { get; }

    /// <summary>The responder's largest message, from its MPA Reply.</summary>
    public int MaxMessage { get; }

    /// <summary>The reply timeout in Stopwatch ticks.</summary>
    public long TimeoutTicks { get; }

    /// <summary>
    /// Connects for <paramref name="op"/>. Unreachable or wrong peers, refused CRC policies and sizes
    /// above the responder's limit are <see cref="UserInputException"/>s; --verbs is
    /// <see cref="LatencyUnavailableException"/> until the verbs transport exists.
    /// </summary>
    public static SoftLatencyClient Open(LatencyRunSettings settings, SoftLatencyOp op, string mode, List<string> notes)
    {
        if (settings.Transport == RdmaTransport.Verbs)
        {
            VerbsTransport.ThrowUnavailable(settings.VerbsDevice);
        }
        var (local, target) = SoftLatencyResponder.ForRun(settings, mode, notes);
        var host = settings.Host ?? "loopback";
        var connection = new IwarpConnection(new IwarpConnectionOptions
        {
            // Write is polled in memory while the receive thread places it; send and read wait on
            // completions, and the waiting thread drives the stream itself.
            Progress = op == SoftLatencyOp.Write ? ProgressMode.Background : ProgressMode.Inline,
            BusyPoll = settings.BusyPoll,
        });
        try
        {
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
                throw ConnectFailure(host, target, e);
            }
            if (!SoftLatencyProtocol.TryReadReply(parameters.PeerPrivateData.Span, out var version, out var status, out var maxMessage))
            {
                throw new UserInputException($"{host} ({target}): an MPA responder, but not a soft latency responder (its Reply carries no RDLT private data); `rdmadiag serve --soft` serves latency on port {SoftLatencyProtocol.DefaultPort}");
            }
            if (status != SoftLatencyStatus.Ok || version != SoftLatencyProtocol.Version)
            {
                throw new UserInputException($"{host} ({target}): the soft latency responder (protocol v{version}) accepted with status {status}; this client speaks v{SoftLatencyProtocol.Version}");
            }
            var largest = settings.Sizes.Max();
            if (largest > maxMessage)
            {
                throw new UserInputException($"--size {largest}: above the {maxMessage}-byte ({LatencySeries.FormatSize(maxMessage)}) memory region limit of the soft latency responder at {host}");
            }
            notes.Add($"{mode}: userspace iWARP endpoint, {Describe(parameters)}");
            notes.Add(op switch
            {
                SoftLatencyOp.Write => $"write: each side polls the last octet of its region (as ib_write_lat){(settings.BusyPoll ? ", spinning" : ", yielding the CPU between looks")}; a receive thread places the Writes",
                SoftLatencyOp.Read => $"read: one RDMA Read outstanding; the initiator drives its stream inline{(settings.BusyPoll ? ", busy-polling" : ", blocking")}; the responder answers from its helper thread",
                _ => $"send: both ends drive their stream inline (no receive thread){(settings.BusyPoll ? ", busy-polling" : ", blocking")}",
            });
            return new SoftLatencyClient(connection, local, mode, settings, maxMessage);
        }
        catch
        {
            connection.Dispose();
            local?.Dispose();
            throw;
        }
    }

    /// <summary>"MPA rev 2, CRC on, markers off, EMSS 65483, MULPDU 65462".</summary>
    public static string Describe(NegotiatedParameters p) =>
        $"MPA rev {p.ReplyRevision}, CRC {(p.Crc ? "on" : "off")}, markers {(p.MarkersSent || p.MarkersReceived ? "on" : "off")}, EMSS {p.Emss}, MULPDU {p.Mulpdu}";

    private static UserInputException ConnectFailure(string host, IPEndPoint target, IwarpException e)
    {
        var hint = e.Kind switch
        {
            IwarpErrorKind.TcpRefused or IwarpErrorKind.TcpUnreachable or IwarpErrorKind.TcpTimeout or IwarpErrorKind.TcpError =>
                $"is `rdmadiag serve --soft` running there? (its soft latency responder listens on port {SoftLatencyProtocol.DefaultPort})",
            IwarpErrorKind.MpaRejected => "the responder refused this client" + RejectReason(e.PeerPrivateData.Span),
            IwarpErrorKind.CrcPolicyConflict => "the responder's CRC policy does not allow this --crc setting",
            _ => $"is it `rdmadiag serve --soft`'s soft latency responder (port {SoftLatencyProtocol.DefaultPort})?",
        };
        return new UserInputException($"{host} ({target}): {e.Message}; {hint}");
    }

    private static string RejectReason(ReadOnlySpan<byte> privateData) =>
        SoftLatencyProtocol.TryReadReply(privateData, out var version, out var status, out _)
            ? $" (status {status}, protocol v{version})"
            : "";

    /// <summary>
    /// Starts a size: Setup (with this side's write region, if any) and the responder's Ready. Returns
    /// Ready, whose STag and TO name the responder's region for write and read, and the seed in use.
    /// </summary>
    public SoftLatencyControl BeginSize(int size, out ulong seed, MemoryRegion? localRegion = null)
    {
        seed = _seed = _seed * 6364136223846793005UL + 1442695040888963407UL;
        var ready = Exchange(new SoftLatencyControl(SoftLatencyOpcode.Setup, Size: size, Seed: seed,
            TaggedOffset: localRegion?.BaseTO ?? 0, STag: localRegion?.STag ?? 0), zeroLength: false);
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
        Connection.PostReceive(0, _control);
        if (zeroLength)
        {
            Connection.PostSend(0, [], PostFlags.None);
        }
        else
        {
            request.Write(_request);
            Connection.PostSend(0, _request, PostFlags.None);
        }
        var completion = WaitReceive();
        if (!SoftLatencyControl.TryRead(_control.AsSpan(0, completion.ByteLength), out var reply, out var error))
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
            var completion = Connection.WaitForCompletion(Settings.ReplyTimeout);
            if (!completion.IsSuccess)
            {
                throw (Exception?)Connection.Error ?? new IOException($"{_mode}: {completion}");
            }
            if (completion.Opcode is CompletionOpcode.Receive)
            {
                return completion;
            }
        }
    }

    public void Dispose()
    {
        Connection.Close();
        _local?.Dispose();
    }
}
