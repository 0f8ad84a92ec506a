# shellcheck shell=dash disable=SC2034
# Addresses the guest helpers set up, shared with the host-side checks that filter captures by them.
SIW_DUMMY_IP=10.9.9.1
NS_A_IP=10.9.8.1
NS_B_IP=10.9.8.2
