"""The network end of the keeper: deployment, reads and transactions (the only modules that import ape/web3)."""
