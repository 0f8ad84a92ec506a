using System.Diagnostics;
using System.Security.Cryptography;
using RdmaDiag.Verbs;

namespace RdmaDiag.Endpoint;

/// <summary>The server's probe region as announced by its Advert.</summary>
public sealed record ProbeAdvert(byte Version, uint STag, ulong BaseTO, int Length, int MaxEcho);

/// <summary>One probe operation: what ran, whether the data came back intact, how long it took.</summary>
/// <param name="Operation">"send", "write" or "read".</param>
/// <param name="Detail">Empty when verified; otherwise the first difference or the server's status.</param>
public sealed record ProbeResult(string Operation, int Size, bool Verified, TimeSpan Elapsed, string Detail);

/// <summary>
/// The client half of the probe protocol (<see cref="ProbeMessage"/>): Send, RDMA Write and RDMA Read
/// against <c>serve --soft</c>, each verified. Construct it before connecting (it registers its read
/// sink and posts its receives), call <see cref="Hello"/> once connected, then the operations. It runs
/// over any <see cref="IRdmaTransport"/>: the userspace endpoint or an rdma_cm connection.
/// Connection failures surface as <see cref="IwarpException"/>; data that comes back wrong as a
/// <see cref="ProbeResult"/> with Verified false.
/// </summary>
public sealed class ProbeClient
{
    private const int ReceiveBuffers = 2;

    private readonly IRdmaTransport _transport;
    private readonly TimeSpan _timeout;
    private readonly TransportRegion _sink;
    private readonly TransportRegion _receives;
    private readonly TransportRegion _message;
    private ulong _seed = 0x5EED;
    private ulong _workRequest = 100;

    public ProbeClient(IwarpConnection connection, TimeSpan timeout, int maxSize = ProbeServer.DefaultLength)
        : this(new SoftTransport(connection), timeout, maxSize)
    {
    }

    public ProbeClient(IRdmaTransport transport, TimeSpan timeout, int maxSize = ProbeServer.DefaultLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSize, 1);
        _transport = transport;
        _timeout = timeout;
        _sink = transport.Register(maxSize, MemoryAccess.LocalWrite);
        // Every request's header and payload, and (after the header) the source of RDMA Writes.
        _message = transport.Register(ProbeMessage.HeaderLength + maxSize, MemoryAccess.None);
        _receives = transport.Register(ReceiveBuffers * ProbeMessage.HeaderLength, MemoryAccess.LocalWrite);
        for (int i = 0; i < ReceiveBuffers; i++)
        {
            transport.PostReceive((ulong)i, _receives, i * ProbeMessage.HeaderLength, ProbeMessage.HeaderLength);
        }
    }

    public ProbeAdvert? Advert { get; private set; }

    /// <summary>Sends HELLO and waits for the server's Advert.</summary>
    public ProbeAdvert Hello()
    {
        ProbeMessage reply = Request(new ProbeMessage(ProbeOp.Hello), 0);
        if (reply.Op != ProbeOp.Advert || reply.Status != ProbeStatus.Ok)
        {
            throw new InvalidDataException($"the server answered HELLO with {reply.Op} status {reply.Status} (version {reply.Version}); expected an Advert (probe protocol v{ProbeMessage.CurrentVersion})");
        }
        Advert = new ProbeAdvert(reply.Version, (uint)reply.Value, reply.Offset, (int)reply.Length, (int)reply.Limit);
        return Advert;
    }

    /// <summary>A Send of <paramref name="size"/> octets; the server's digest must equal ours.</summary>
    public ProbeResult Send(int size)
    {
        RequireAdvert(size, size <= Advert!.MaxEcho, "Echo limit");
        byte[] expected = FillPayload(size);
        long start = Stopwatch.GetTimestamp();
        ProbeMessage reply = Request(new ProbeMessage(ProbeOp.Echo, Length: (uint)size), size);
        return Verify("send", size, start, reply, expected);
    }

    /// <summary>An RDMA Write of <paramref name="size"/> octets into the server's region, then CHECK: the digests must agree.</summary>
    public ProbeResult Write(int size)
    {
        ProbeAdvert advert = RequireAdvert(size, size <= Advert!.Length, "region length");
        byte[] expected = FillPayload(size);
        long start = Stopwatch.GetTimestamp();
        _transport.PostWrite(_workRequest++, _message, ProbeMessage.HeaderLength, size, advert.STag, advert.BaseTO, PostFlags.None);
        ProbeMessage reply = Request(new ProbeMessage(ProbeOp.Check, Length: (uint)size, Offset: advert.BaseTO), 0);
        return Verify("write", size, start, reply, expected);
    }

    /// <summary>FILL the server's region with a seeded pattern, RDMA Read it back and compare every octet.</summary>
    public ProbeResult Read(int size)
    {
        ProbeAdvert advert = RequireAdvert(size, size <= Math.Min(Advert!.Length, _sink.Length), "region length");
        ulong seed = NextSeed();
        byte[] expected = new byte[size];
        ProbeMessage.FillPattern(expected, seed);
        long start = Stopwatch.GetTimestamp();
        ProbeMessage reply = Request(new ProbeMessage(ProbeOp.Fill, Length: (uint)size, Offset: advert.BaseTO, Value: seed), 0);
        if (reply.Status != ProbeStatus.Ok)
        {
            return Verify("read", size, start, reply, SHA256.HashData(expected));
        }
        ulong id = _workRequest++;
        _transport.PostRead(id, _sink, 0, size, advert.STag, advert.BaseTO);
        Completion completion = WaitFor(CompletionOpcode.RdmaRead);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        if (!completion.IsSuccess || completion.ByteLength != size)
        {
            return new ProbeResult("read", size, false, elapsed, $"the RDMA Read completed with {completion.Status}, {completion.ByteLength} of {size} octets");
        }
        ReadOnlySpan<byte> got = _sink.Span[..size];
        int differs = got.CommonPrefixLength(expected);
        return differs == size
            ? new ProbeResult("read", size, true, elapsed, "")
            : new ProbeResult("read", size, false, elapsed, $"octet {differs} read back as 0x{got[differs]:X2}, expected 0x{expected[differs]:X2}");
    }

    private ProbeAdvert RequireAdvert(int size, bool fits, string limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ProbeAdvert advert = Advert ?? throw new InvalidOperationException("call Hello first");
        if (!fits || size > _sink.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(size), $"{size} octets exceed the server's {limit} ({advert.Length} region, {advert.MaxEcho} echo) or this client's {_sink.Length}");
        }
        return advert;
    }

    /// <summary>Fills the payload part of the message buffer with the next pattern; returns its SHA-256.</summary>
    private byte[] FillPayload(int size)
    {
        Span<byte> payload = _message.Span.Slice(ProbeMessage.HeaderLength, size);
        ProbeMessage.FillPattern(payload, NextSeed());
        return SHA256.HashData(payload);
    }

    private ulong NextSeed() => _seed = _seed * 6364136223846793005UL + 1442695040888963407UL;

    /// <summary>One request Send (the header, then <paramref name="payloadLength"/> octets already behind it; unsignalled) and the server's one reply.</summary>
    private ProbeMessage Request(in ProbeMessage request, int payloadLength)
    {
        request.Write(_message.Span);
        _transport.PostSend(_workRequest++, _message, 0, ProbeMessage.HeaderLength + payloadLength, PostFlags.None);
        Completion completion = WaitFor(CompletionOpcode.Receive);
        int index = (int)completion.WorkRequestId;
        int offset = index * ProbeMessage.HeaderLength;
        bool parsed = ProbeMessage.TryRead(_receives.Span.Slice(offset, completion.ByteLength), out ProbeMessage reply, out string error);
        _transport.PostReceive((ulong)index, _receives, offset, ProbeMessage.HeaderLength);
        return parsed ? reply : throw new InvalidDataException($"the server's reply is not a probe message: {error}");
    }

    private Completion WaitFor(CompletionOpcode opcode)
    {
        while (true)
        {
            Completion completion = _transport.WaitForCompletion(_timeout);
            if (completion.Opcode == opcode)
            {
                return completion;
            }
            if (!completion.IsSuccess)
            {
                throw new InvalidDataException($"unexpected failed completion while waiting for {opcode}: {completion}");
            }
        }
    }

    private static ProbeResult Verify(string operation, int size, long start, in ProbeMessage reply, byte[] expected)
    {
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        if (reply.Op != ProbeOp.Digest || reply.Status != ProbeStatus.Ok)
        {
            return new ProbeResult(operation, size, false, elapsed, $"the server answered {reply.Op} with status {reply.Status} (version {reply.Version})");
        }
        if (reply.Length != size || !reply.Digest.Span.SequenceEqual(expected))
        {
            return new ProbeResult(operation, size, false, elapsed,
                $"the server's SHA-256 of {reply.Length} octets is {Convert.ToHexString(reply.Digest.Span)[..16]}…, ours of {size} is {Convert.ToHexString(expected)[..16]}…");
        }
        return new ProbeResult(operation, size, true, elapsed, "");
    }
}
