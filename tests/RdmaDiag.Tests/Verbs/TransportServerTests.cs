using System.Net;
using RdmaDiag.Endpoint;
using RdmaDiag.Rping;
using RdmaDiag.Tests.Endpoint;
using RdmaDiag.Verbs;

namespace RdmaDiag.Tests.Verbs;

public class TransportServerTests
{
    private static readonly TimeSpan Wait = EndpointPair.Wait;

    [Fact]
    public async Task Serve_MoreConnectionsThanAllowed_RejectsTheExtraOneAndLogsIt()
    {
        await using var server = RunningServer.SoftRping(maxConnections: 1);
        using var first = new SoftTransport(new IwarpConnection());
        using var firstClient = new RpingClient(first, 64, Wait);
        await first.Connection.ConnectAsync(server.EndPoint, RunningServer.RpingSetup);
        Assert.True(firstClient.Ping(0).Verified);

        using var second = new SoftTransport(new IwarpConnection());
        var e = await Assert.ThrowsAsync<IwarpException>(() => second.Connection.ConnectAsync(server.EndPoint, RunningServer.RpingSetup));

        Assert.Equal(IwarpErrorKind.MpaRejected, e.Kind);
        await server.WaitForLog("rejected: 1 connections already served");
        Assert.True(firstClient.Ping(1).Verified);
    }

    [Fact]
    public async Task Serve_ClientSendsGarbageFirst_SetupFailureIsLogged()
    {
        await using var server = RunningServer.SoftRping();

        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(server.EndPoint);
        await socket.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());

        await server.WaitForLog("setup failed: NotMpa");
    }

    [Theory]
    [InlineData(0x1000ul, 16ul, true, 0)]
    [InlineData(0x1030ul, 16ul, true, 0x30)]
    [InlineData(0x1000ul, 64ul, true, 0)]
    [InlineData(0x1040ul, 0ul, true, 0x40)]
    [InlineData(0x0FFFul, 1ul, false, 0)]
    [InlineData(0x1031ul, 16ul, false, 0)]
    [InlineData(0x1000ul, ulong.MaxValue, false, 0)]
    public void Region_TryGetOffset_AcceptsOnlyRangesInside(ulong address, ulong length, bool inside, int offset)
    {
        using var region = new FixedRegion(0x1000, 64);

        Assert.Equal(inside, region.TryGetOffset(address, length, out int at));
        Assert.Equal(offset, at);
    }

    [Fact]
    public void SoftTransport_RegionOfAnotherConnection_IsRefused()
    {
        using var one = new SoftTransport(new IwarpConnection());
        using var other = new SoftTransport(new IwarpConnection());
        TransportRegion region = other.Register(16, MemoryAccess.LocalWrite);

        var e = Assert.Throws<ArgumentException>(() => one.PostReceive(1, region, 0, 16));

        Assert.Contains("was not registered on this connection", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => other.PostReceive(1, region, 8, 16));
    }

    private sealed class FixedRegion(ulong address, int length) : TransportRegion
    {
        private readonly byte[] _bytes = new byte[length];

        public override uint RemoteKey => 0x42;

        public override ulong RemoteAddress => address;

        public override int Length => length;

        public override Span<byte> Span => _bytes;

        public override void Dispose()
        {
        }
    }
}
