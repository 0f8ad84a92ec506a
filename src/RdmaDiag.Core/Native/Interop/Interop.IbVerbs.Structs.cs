using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

// Mirrors of <infiniband/verbs.h> (rdma-core 44, LP64). Only the members RdmaDiag reads or writes are
// declared; Size keeps every struct as large as the C one so the library never writes past it.
// Offsets are proven against the real header by tests/RdmaDiag.Tests/Native/StructLayoutTests.
internal static unsafe partial class Interop
{
    internal static unsafe partial class IbVerbs
    {
        private const string Header = "infiniband/verbs.h";

        [CType("struct ibv_device", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 664)]
        internal struct ibv_device
        {
            [FieldOffset(16)] public int node_type;
            [FieldOffset(20)] public int transport_type;
            [FieldOffset(24)] public fixed byte name[64];
            [FieldOffset(88)] public fixed byte dev_name[64];
            [FieldOffset(152)] public fixed byte dev_path[256];
            [FieldOffset(408)] public fixed byte ibdev_path[256];
        }

        /// <summary>
        /// The function-pointer table the <c>static inline</c> verbs call through:
        /// ibv_poll_cq → ops.poll_cq, ibv_req_notify_cq → ops.req_notify_cq,
        /// ibv_post_send → ops.post_send, ibv_post_recv → ops.post_recv.
        /// </summary>
        [CType("struct ibv_context", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 328)]
        internal struct ibv_context
        {
            [FieldOffset(0)] public ibv_device* device;
            [CField("ops.poll_cq")]
            [FieldOffset(96)] public delegate* unmanaged<ibv_cq*, int, ibv_wc*, int> ops_poll_cq;
            [CField("ops.req_notify_cq")]
            [FieldOffset(104)] public delegate* unmanaged<ibv_cq*, int, int> ops_req_notify_cq;
            [CField("ops.post_send")]
            [FieldOffset(208)] public delegate* unmanaged<ibv_qp*, ibv_send_wr*, ibv_send_wr**, int> ops_post_send;
            [CField("ops.post_recv")]
            [FieldOffset(216)] public delegate* unmanaged<ibv_qp*, ibv_recv_wr*, ibv_recv_wr**, int> ops_post_recv;
            [FieldOffset(264)] public int cmd_fd;
            [FieldOffset(268)] public int async_fd;
            [FieldOffset(272)] public int num_comp_vectors;
            [FieldOffset(320)] public void* abi_compat;
        }

        /// <summary>
        /// The extended context that embeds <see cref="ibv_context"/> as its last member. The inline
        /// ibv_query_port uses <c>query_port</c> from here when <c>context.abi_compat</c> is
        /// <see cref="VerbsAbiIsExtended"/> and <c>sz</c> covers the member.
        /// </summary>
        [CType("struct verbs_context", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 648)]
        internal struct verbs_context
        {
            [FieldOffset(0)] public delegate* unmanaged<ibv_context*, byte, ibv_port_attr*, nuint, int> query_port;
            [FieldOffset(312)] public nuint sz;
            [FieldOffset(320)] public ibv_context context;
        }

        /// <summary>__VERBS_ABI_IS_EXTENDED: (void *)UINTPTR_MAX in ibv_context.abi_compat.</summary>
        internal static readonly nuint VerbsAbiIsExtended = nuint.MaxValue;

        [CType("struct ibv_device_attr", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 232)]
        internal struct ibv_device_attr
        {
            [FieldOffset(0)] public fixed byte fw_ver[64];
            [FieldOffset(64)] public ulong node_guid;
            [FieldOffset(72)] public ulong sys_image_guid;
            [FieldOffset(80)] public ulong max_mr_size;
            [FieldOffset(88)] public ulong page_size_cap;
            [FieldOffset(96)] public uint vendor_id;
            [FieldOffset(100)] public uint vendor_part_id;
            [FieldOffset(104)] public uint hw_ver;
            [FieldOffset(108)] public int max_qp;
            [FieldOffset(112)] public int max_qp_wr;
            [FieldOffset(116)] public uint device_cap_flags;
            [FieldOffset(120)] public int max_sge;
            [FieldOffset(124)] public int max_sge_rd;
            [FieldOffset(128)] public int max_cq;
            [FieldOffset(132)] public int max_cqe;
            [FieldOffset(136)] public int max_mr;
            [FieldOffset(140)] public int max_pd;
            [FieldOffset(144)] public int max_qp_rd_atom;
            [FieldOffset(156)] public int max_qp_init_rd_atom;
            [FieldOffset(164)] public int atomic_cap;
            [FieldOffset(176)] public int max_mw;
            [FieldOffset(212)] public int max_srq;
            [FieldOffset(224)] public ushort max_pkeys;
            [FieldOffset(226)] public byte local_ca_ack_delay;
            [FieldOffset(227)] public byte phys_port_cnt;
        }

        [CType("struct ibv_port_attr", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 52)]
        internal struct ibv_port_attr
        {
            [FieldOffset(0)] public int state;
            [FieldOffset(4)] public int max_mtu;
            [FieldOffset(8)] public int active_mtu;
            [FieldOffset(12)] public int gid_tbl_len;
            [FieldOffset(16)] public uint port_cap_flags;
            [FieldOffset(20)] public uint max_msg_sz;
            [FieldOffset(32)] public ushort pkey_tbl_len;
            [FieldOffset(34)] public ushort lid;
            [FieldOffset(43)] public byte active_width;
            [FieldOffset(44)] public byte active_speed;
            [FieldOffset(45)] public byte phys_state;
            [FieldOffset(46)] public byte link_layer;
        }

        [CType("union ibv_gid", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 16)]
        internal struct ibv_gid
        {
            [FieldOffset(0)] public fixed byte raw[16];
        }

        [CType("struct ibv_pd", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 16)]
        internal struct ibv_pd
        {
            [FieldOffset(0)] public ibv_context* context;
            [FieldOffset(8)] public uint handle;
        }

        [CType("struct ibv_mr", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 48)]
        internal struct ibv_mr
        {
            [FieldOffset(0)] public ibv_context* context;
            [FieldOffset(8)] public ibv_pd* pd;
            [FieldOffset(16)] public void* addr;
            [FieldOffset(24)] public nuint length;
            [FieldOffset(32)] public uint handle;
            [FieldOffset(36)] public uint lkey;
            [FieldOffset(40)] public uint rkey;
        }

        [CType("struct ibv_comp_channel", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 16)]
        internal struct ibv_comp_channel
        {
            [FieldOffset(0)] public ibv_context* context;
            [FieldOffset(8)] public int fd;
            [FieldOffset(12)] public int refcnt;
        }

        [CType("struct ibv_cq", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 128)]
        internal struct ibv_cq
        {
            [FieldOffset(0)] public ibv_context* context;
            [FieldOffset(8)] public ibv_comp_channel* channel;
            [FieldOffset(16)] public void* cq_context;
            [FieldOffset(24)] public uint handle;
            [FieldOffset(28)] public int cqe;
        }

        [CType("struct ibv_qp", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 160)]
        internal struct ibv_qp
        {
            [FieldOffset(0)] public ibv_context* context;
            [FieldOffset(8)] public void* qp_context;
            [FieldOffset(16)] public ibv_pd* pd;
            [FieldOffset(24)] public ibv_cq* send_cq;
            [FieldOffset(32)] public ibv_cq* recv_cq;
            [FieldOffset(40)] public void* srq;
            [FieldOffset(48)] public uint handle;
            [FieldOffset(52)] public uint qp_num;
            [FieldOffset(56)] public int state;
            [FieldOffset(60)] public int qp_type;
        }

        [CType("struct ibv_qp_init_attr", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 64)]
        internal struct ibv_qp_init_attr
        {
            [FieldOffset(0)] public void* qp_context;
            [FieldOffset(8)] public ibv_cq* send_cq;
            [FieldOffset(16)] public ibv_cq* recv_cq;
            [FieldOffset(24)] public void* srq;
            [CField("cap.max_send_wr")]
            [FieldOffset(32)] public uint cap_max_send_wr;
            [CField("cap.max_recv_wr")]
            [FieldOffset(36)] public uint cap_max_recv_wr;
            [CField("cap.max_send_sge")]
            [FieldOffset(40)] public uint cap_max_send_sge;
            [CField("cap.max_recv_sge")]
            [FieldOffset(44)] public uint cap_max_recv_sge;
            [CField("cap.max_inline_data")]
            [FieldOffset(48)] public uint cap_max_inline_data;
            [FieldOffset(52)] public int qp_type;
            [FieldOffset(56)] public int sq_sig_all;
        }

        [CType("struct ibv_qp_attr", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 144)]
        internal struct ibv_qp_attr
        {
            [FieldOffset(0)] public int qp_state;
            [FieldOffset(4)] public int cur_qp_state;
            [FieldOffset(8)] public int path_mtu;
            [FieldOffset(16)] public uint qkey;
            [FieldOffset(20)] public uint rq_psn;
            [FieldOffset(24)] public uint sq_psn;
            [FieldOffset(28)] public uint dest_qp_num;
            [FieldOffset(32)] public uint qp_access_flags;
            [CField("cap.max_send_wr")]
            [FieldOffset(36)] public uint cap_max_send_wr;
            [CField("cap.max_recv_wr")]
            [FieldOffset(40)] public uint cap_max_recv_wr;
            [CField("cap.max_send_sge")]
            [FieldOffset(44)] public uint cap_max_send_sge;
            [CField("cap.max_recv_sge")]
            [FieldOffset(48)] public uint cap_max_recv_sge;
            [CField("cap.max_inline_data")]
            [FieldOffset(52)] public uint cap_max_inline_data;
            [FieldOffset(120)] public ushort pkey_index;
            [FieldOffset(126)] public byte max_rd_atomic;
            [FieldOffset(127)] public byte max_dest_rd_atomic;
            [FieldOffset(128)] public byte min_rnr_timer;
            [FieldOffset(129)] public byte port_num;
            [FieldOffset(130)] public byte timeout;
            [FieldOffset(131)] public byte retry_cnt;
            [FieldOffset(132)] public byte rnr_retry;
        }

        [CType("struct ibv_sge", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 16)]
        internal struct ibv_sge
        {
            [FieldOffset(0)] public ulong addr;
            [FieldOffset(8)] public uint length;
            [FieldOffset(12)] public uint lkey;
        }

        [CType("struct ibv_send_wr", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 128)]
        internal struct ibv_send_wr
        {
            [FieldOffset(0)] public ulong wr_id;
            [FieldOffset(8)] public ibv_send_wr* next;
            [FieldOffset(16)] public ibv_sge* sg_list;
            [FieldOffset(24)] public int num_sge;
            [FieldOffset(28)] public int opcode;
            [FieldOffset(32)] public uint send_flags;
            /// <summary>Network byte order, as on the wire.</summary>
            [FieldOffset(36)] public uint imm_data;
            [CField("wr.rdma.remote_addr")]
            [FieldOffset(40)] public ulong wr_rdma_remote_addr;
            [CField("wr.rdma.rkey")]
            [FieldOffset(48)] public uint wr_rdma_rkey;
        }

        [CType("struct ibv_recv_wr", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 32)]
        internal struct ibv_recv_wr
        {
            [FieldOffset(0)] public ulong wr_id;
            [FieldOffset(8)] public ibv_recv_wr* next;
            [FieldOffset(16)] public ibv_sge* sg_list;
            [FieldOffset(24)] public int num_sge;
        }

        [CType("struct ibv_wc", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 48)]
        internal struct ibv_wc
        {
            [FieldOffset(0)] public ulong wr_id;
            [FieldOffset(8)] public int status;
            [FieldOffset(12)] public int opcode;
            [FieldOffset(16)] public uint vendor_err;
            [FieldOffset(20)] public uint byte_len;
            /// <summary>Network byte order when wc_flags has IBV_WC_WITH_IMM.</summary>
            [FieldOffset(24)] public uint imm_data;
            [FieldOffset(28)] public uint qp_num;
            [FieldOffset(32)] public uint src_qp;
            [FieldOffset(36)] public uint wc_flags;
            [FieldOffset(40)] public ushort pkey_index;
            [FieldOffset(42)] public ushort slid;
            [FieldOffset(44)] public byte sl;
            [FieldOffset(45)] public byte dlid_path_bits;
        }
    }
}
