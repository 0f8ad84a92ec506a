using RdmaDiag.Endpoint;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>
/// A fixed exercise over an established pair that touches every framing path: a multi-segment Send
/// each way, an RDMA Write, an RDMA Read and an Atomic FetchAdd, every octet checked.
/// </summary>
internal sealed class Traffic
{
    /// <summary>Small enough that each message spans several FPDUs and markers fall inside them.</summary>
    public static readonly IwarpConnectionOptions SmallSegments = new() { EmssOverride = 536 };

    private readonly byte[] _clientMemory = new byte[16384];
    private readonly byte[] _serverMemory = new byte[16384];
    private readonly byte[] _clientReceive = new byte[8192];
    private readonly byte[] _serverReceive = new byte[8192];
    private MemoryRegion? _clientRegion;
    private MemoryRegion? _serverRegion;

    public void PrepareClient(IwarpConnection client)
    {
        _clientRegion = client.RegisterMemory(_clientMemory, MemoryAccess.LocalWrite);
        client.PostReceive(10, _clientReceive);
    }

    public void PrepareServer(IwarpConnection server)
    {
        new Random(3).NextBytes(_serverMemory);
        _serverRegion = server.RegisterMemory(_serverMemory, MemoryAccess.All, baseTO: 0x10000);
        server.PostReceive(20, _serverReceive);
        server.PostReceive(21, _serverReceive);
    }

    public void Run(EndpointPair pair)
    {
        IwarpConnection client = pair.Client;
        IwarpConnection server = pair.Server;
        MemoryRegion remote = _serverRegion!;

        byte[] message = Bytes(2500, 1);
        client.PostSend(1, message, PostFlags.None);
        Completion received = WaitFor(server, CompletionOpcode.Receive);
        Assert.Equal(CompletionStatus.Success, received.Status);
        Assert.Equal(message, _serverReceive.AsSpan(0, received.ByteLength).ToArray());

        byte[] written = Bytes(3000, 2);
        client.PostWrite(2, written, remote.STag, remote.BaseTO + 100, PostFlags.None);
        client.PostSend(3, [0xAA], PostFlags.None);
        Assert.Equal(1, WaitFor(server, CompletionOpcode.Receive).ByteLength);
        Assert.Equal(written, _serverMemory.AsSpan(100, written.Length).ToArray());

        client.PostRead(4, _clientRegion!, _clientRegion!.BaseTO, 3000, remote.STag, remote.BaseTO + 4000);
        Completion read = WaitFor(client, CompletionOpcode.RdmaRead);
        Assert.Equal(new Completion(4, CompletionOpcode.RdmaRead, CompletionStatus.Success, 3000), read);
        Assert.Equal(_serverMemory.AsSpan(4000, 3000).ToArray(), _clientMemory.AsSpan(0, 3000).ToArray());

        ulong before = BitConverter.ToUInt64(_serverMemory, 8192);
        client.PostFetchAdd(5, remote.STag, remote.BaseTO + 8192, 5);
        Completion atomic = WaitFor(client, CompletionOpcode.FetchAdd);
        Assert.Equal(before, atomic.AtomicOriginalValue);
        Assert.Equal(before + 5, BitConverter.ToUInt64(_serverMemory, 8192));

        byte[] reply = Bytes(1000, 3);
        server.PostSend(6, reply, PostFlags.None);
        Completion back = WaitFor(client, CompletionOpcode.Receive);
        Assert.Equal(reply, _clientReceive.AsSpan(0, back.ByteLength).ToArray());
    }

    public static byte[] Bytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>The next completion of <paramref name="opcode"/>, skipping others (e.g. signalled Sends).</summary>
    public static Completion WaitFor(IwarpConnection connection, CompletionOpcode opcode)
    {
        while (true)
        {
            Completion completion = connection.WaitForCompletion(EndpointPair.Wait);
            if (completion.Opcode == opcode)
            {
                return completion;
            }
        }
    }

    /// <summary>Waits until the connection has failed (its receive loop runs on another thread).</summary>
    public static IwarpException WaitForError(IwarpConnection connection)
    {
        for (int i = 0; i < 200 && connection.Error is null; i++)
        {
            Thread.Sleep(10);
        }
        return connection.Error ?? throw new Xunit.Sdk.XunitException($"the connection did not fail: {connection}");
    }
}
