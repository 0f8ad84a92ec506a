using RdmaDiag.Endpoint;

namespace RdmaDiag.Tests.Endpoint;

public class DataTransferTests
{
    private static readonly TimeSpan Wait = EndpointPair.Wait;

    internal static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Theory]
    [InlineData(ProgressMode.Background, 64)]
    [InlineData(ProgressMode.Inline, 64)]
    [InlineData(ProgressMode.Background, 1 << 20)]
    [InlineData(ProgressMode.Inline, 1 << 20)]
    public async Task Send_PostedReceive_DeliversSameBytes(ProgressMode mode, int size)
    {
        var options = new IwarpConnectionOptions { Progress = mode };
        var buffer = new byte[size];
        using var pair = await EndpointPair.ConnectAsync(clientOptions: options, serverOptions: options,
            prepareServer: s => s.PostReceive(7, buffer));
        byte[] data = Pattern(size, 1);

        pair.Client.PostSend(1, data);

        Completion received = await pair.Server.WaitForCompletionAsync(Wait);
        Assert.Equal(new Completion(7, CompletionOpcode.Receive, CompletionStatus.Success, size), received);
        Assert.Equal(data, buffer);
        Completion sent = pair.Client.WaitForCompletion(Wait);
        Assert.Equal(new Completion(1, CompletionOpcode.Send, CompletionStatus.Success, size), sent);
    }

    [Fact]
    public async Task Connect_ReturnsTheParametersInForce()
    {
        using var listener = IwarpListener.Start(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        using var client = new IwarpConnection();
        Task<NegotiatedParameters> connect = client.ConnectAsync(listener.LocalEndPoint);
        using var server = new IwarpConnection();
        (await listener.AcceptAsync()).Accept(server);

        NegotiatedParameters parameters = await connect.WaitAsync(Wait);

        Assert.Same(client.Parameters, parameters);
        Assert.True(parameters.Emss > 0);
        Assert.Equal(RdmaDiag.Wire.Mpa.Mulpdu.FromEmss(parameters.Emss, markers: false), parameters.Mulpdu);
    }

    [Theory]
    [InlineData(false, 1 << 20)]
    [InlineData(true, 1 << 20)]
    [InlineData(true, 100_003)]
    public async Task SendAndWrite_FromArrays_GoOutWithoutACopyAndArriveIntact(bool crc, int size)
    {
        var setup = new IwarpSetupOptions { Crc = crc ? CrcPolicy.Required : CrcPolicy.Off };
        var receive = new byte[size];
        var memory = new byte[size + 16];
        MemoryRegion? region = null;
        using var pair = await EndpointPair.ConnectAsync(setup, setup, prepareServer: s =>
        {
            s.PostReceive(1, receive);
            region = s.RegisterMemory(memory, MemoryAccess.RemoteWrite);
        });
        Assert.True(pair.ClientParameters.Mulpdu - 18 >= 8 * 1024, "loopback's MSS should allow the gathered path");
        byte[] data = Pattern(size + 8, 5);

        pair.Client.PostWrite(2, data.AsMemory(8, size), region!.STag, region.BaseTO + 16, PostFlags.None);
        pair.Client.PostSend(3, data.AsMemory(0, size), PostFlags.None);

        Assert.Equal(new Completion(1, CompletionOpcode.Receive, CompletionStatus.Success, size), pair.Server.WaitForCompletion(Wait));
        Assert.Equal(data.AsSpan(0, size).ToArray(), receive);
        Assert.Equal(data.AsSpan(8, size).ToArray(), memory.AsSpan(16).ToArray());
        Assert.Equal(pair.Client.Parameters!.Crc, crc);
    }

    [Fact]
    public async Task ImmediateData_ConsumesAReceiveAndCarriesTheValue()
    {
        using var pair = await EndpointPair.ConnectAsync(prepareServer: s => s.PostReceive(4, new byte[8]));

        pair.Client.PostImmediate(1, 0x0102030405060708, PostFlags.Solicited);

        Completion completion = pair.Server.WaitForCompletion(Wait);
        Assert.Equal(new Completion(4, CompletionOpcode.ReceiveImmediate, CompletionStatus.Success, 0, CompletionFlags.SolicitedEvent, 0x0102030405060708), completion);
    }

    [Fact]
    public async Task Atomics_FetchAddAndCompareSwap_ReturnOriginalsAndUpdateTheWord()
    {
        var word = new byte[16];
        MemoryRegion? region = null;
        using var pair = await EndpointPair.ConnectAsync(prepareServer: s => region = s.RegisterMemory(word, MemoryAccess.RemoteAtomic, baseTO: 0x1000));
        BitConverter.TryWriteBytes(word.AsSpan(8), 100UL);

        pair.Client.PostFetchAdd(1, region!.STag, 0x1008, 23);
        Completion add = pair.Client.WaitForCompletion(Wait);
        pair.Client.PostCompareSwap(2, region.STag, 0x1008, compare: 123, swap: 7);
        Completion swap = pair.Client.WaitForCompletion(Wait);
        pair.Client.PostCompareSwap(3, region.STag, 0x1008, compare: 999, swap: 8);
        Completion miss = pair.Client.WaitForCompletion(Wait);

        Assert.Equal((CompletionOpcode.FetchAdd, 100UL), (add.Opcode, add.AtomicOriginalValue));
        Assert.Equal((CompletionOpcode.CompareSwap, 123UL), (swap.Opcode, swap.AtomicOriginalValue));
        Assert.Equal(7UL, miss.AtomicOriginalValue);
        Assert.Equal(7UL, BitConverter.ToUInt64(word, 8));
    }

    [Theory]
    [InlineData(0UL, 0x00000000FFFFFFFFUL, 1UL, 0x0000000100000000UL)]
    [InlineData(0x8000000000000000UL, 0x00000000FFFFFFFFUL, 1UL, 0x0000000100000000UL)]
    [InlineData(0x0000000080000000UL, 0x00000000FFFFFFFFUL, 0x0000000100000001UL, 0x0000000100000000UL)]
    public void FetchAdd_WithFieldMask_DropsCarryOutOfEachField(ulong mask, ulong original, ulong add, ulong expected) =>
        Assert.Equal(mask == 0 ? original + add : expected, AtomicArithmetic.FetchAdd(original, add, mask));

    [Fact]
    public async Task Reads_BeyondOrd_WaitForCreditsAndAllComplete()
    {
        var source = Pattern(64 * 1024, 9);
        MemoryRegion? remote = null;
        MemoryRegion? sink = null;
        using var pair = await EndpointPair.ConnectAsync(new IwarpSetupOptions { Ord = 2 }, null,
            prepareClient: c => sink = c.RegisterMemory(new byte[64 * 1024], MemoryAccess.LocalWrite),
            prepareServer: s => remote = s.RegisterMemory(source, MemoryAccess.RemoteRead));
        Assert.Equal(2, pair.ClientParameters.Ord);

        for (int i = 0; i < 16; i++)
        {
            pair.Client.PostRead((ulong)i, sink!, (ulong)(i * 4096), 4096, remote!.STag, (ulong)(i * 4096));
        }
        var done = Enumerable.Range(0, 16).Select(_ => pair.Client.WaitForCompletion(Wait)).ToList();

        Assert.Equal(Enumerable.Range(0, 16).Select(i => (ulong)i), done.Select(c => c.WorkRequestId));
        Assert.All(done, c => Assert.Equal(CompletionStatus.Success, c.Status));
        Assert.Equal(source, sink!.Memory.ToArray());
    }

    // rping runs IRD/ORD 1: the requester posts its next Read the moment a response completes, which
    // can be before the responder's helper thread returns from sending that response.
    [Fact]
    public async Task Reads_BackToBackAtIrdOne_NeverOverrunTheResponder()
    {
        var source = Pattern(4096, 3);
        MemoryRegion? remote = null;
        MemoryRegion? sink = null;
        using var pair = await EndpointPair.ConnectAsync(new IwarpSetupOptions { Ird = 1, Ord = 1 }, new IwarpSetupOptions { Ird = 1, Ord = 1 },
            prepareClient: c => sink = c.RegisterMemory(new byte[4096], MemoryAccess.LocalWrite),
            prepareServer: s => remote = s.RegisterMemory(source, MemoryAccess.RemoteRead));
        Assert.Equal(1, pair.ServerParameters.Ird);

        for (int i = 0; i < 2000; i++)
        {
            pair.Client.PostRead((ulong)i, sink!, 0, 64, remote!.STag, (ulong)(i % 64 * 64));
            Completion done = pair.Client.WaitForCompletion(Wait);
            Assert.Equal(CompletionStatus.Success, done.Status);
        }
        Assert.Null(pair.Server.Error);
    }
}
