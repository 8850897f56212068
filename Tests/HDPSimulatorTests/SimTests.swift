import HDPSimulator
import Testing
